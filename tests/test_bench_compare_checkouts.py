"""benchmarks/compare_checkouts.py reads step_speed.py's own table."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import compare_checkouts, step_speed  # noqa: E402


def test_parse_table_reads_the_step_speed_table():
    case = step_speed.Case("dcgan", "hinge", 8, 1)
    rows = [{"arch": "dcgan", "step": "hinge", "case": case, "compile_s": 3.25,
             "params": {"G": 10, "D": 20}, "jaxgan_s": 0.5, "torch_s": None}]
    args = step_speed.argparse.Namespace(batch=64)
    parsed = compare_checkouts.parse_table(step_speed.format_table(rows, {}, args))
    assert parsed == {("DCGAN (G 8, D 8 ch)", "hinge (1x1)"): {"img_s": 128.0, "compile_s": 3.2}}
    with pytest.raises(ValueError, match="no table"):
        compare_checkouts.parse_table("nothing here")
