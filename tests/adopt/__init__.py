"""Tests of adopt: state reading, matching, import ids, the adoption file, the plan gate."""
