"""Taking over deployed state: read a state offline, match it to a render, write the blocks.

``state`` reads ``terraform show -json`` output or a raw state; ``rendered`` lists the
instances of tfgen's verified render with their literal identity; ``match`` pairs them;
``importids`` gives each type's import id; ``blocks`` is the project's ``adopt/<env>.yaml``
and the ``moved``/``import``/``removed`` HCL it renders into; ``plangate`` refuses a plan
that deletes or replaces anything. The command that drives them is
:mod:`generator.commands.adopt`.
"""
