"""convert(): the lossless checks, including their fast paths."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from loader.convert import TypeGuess, _leading_zero, convert, infer_type
from tests.readers.test_csv import read_all


def bad_values(values: list[str | None], target: pa.DataType) -> list[str | None]:
    out = convert(pa.array(values, pa.string()), target, strict=True)
    if out.bad is None:
        return []
    return [v for v, b in zip(values, out.bad.to_pylist(), strict=True) if b]


@pytest.mark.parametrize("target", [pa.int64(), pa.float64()])
def test_leading_zeros_with_and_without_sign_are_refused(target: pa.DataType) -> None:
    values = ["12", "007", "-012", "+07", "0", "-0", None, "3"]
    assert bad_values(values, target) == ["007", "-012", "+07"]
    # no value starts with a bare zero: only the signed ones can be caught
    assert bad_values(["12", "-012"], target) == ["-012"]
    assert bad_values(["12", "+07"], target) == ["+07"]


def test_a_decimal_point_after_zero_is_no_leading_zero() -> None:
    assert bad_values(["0.5", "-0.25", "+0.1", "0e3", "10.0"], pa.float64()) == []
    assert bad_values(["0.5", "00.5"], pa.float64()) == ["00.5"]


def test_columns_without_any_zero_prefix_pass_untouched() -> None:
    out = convert(pa.array(["1", "22", "-3"], pa.string()), pa.int64(), strict=True)
    assert out.bad is None
    assert out.array.to_pylist() == [1, 22, -3]


def test_nul_scan_is_skipped_only_when_the_caller_says_so() -> None:
    arr = pa.array([b"a", b"b\x00c"], pa.binary())
    out = convert(arr, pa.string())
    assert out.bad is not None and out.bad.to_pylist() == [False, True]
    assert out.reasons == ["NUL byte in value"]
    assert convert(arr, pa.string(), may_hold_nul=False).bad is None


def test_inference_scans_past_the_head_of_the_sample() -> None:
    # the first 256 values look like integers; a later one does not
    assert infer_type(pa.array([str(i) for i in range(300)] + ["abc"])) == pa.string()
    assert infer_type(pa.array([str(i) for i in range(300)] + ["1.5"])) == pa.float64()
    assert infer_type(pa.array(["true"] * 300 + ["maybe"])) == pa.string()
    assert infer_type(pa.array(["2024-01-01"] * 300 + ["2024-01-01 10:00"])) == pa.string()
    assert infer_type(pa.array([str(i) for i in range(300)])) == pa.int64()


def test_nul_in_a_late_block_is_still_rejected(tmp_path: Path) -> None:
    p = tmp_path / "late_nul.csv"
    rows = b"".join(b"%d,value %d\n" % (i, i) for i in range(1, 400))
    p.write_bytes(b"a,b\n" + rows + b"400,bad\x00nul\n401,fine\n")
    _, chunks = read_all(p, block_size=1024)
    assert len(chunks) > 3  # the NUL sits in a later block than the first
    reasons = {rj.row: rj.reason for c in chunks for rj in c.rejects}
    assert reasons == {400: "NUL byte in value"}
    assert sum(c.batch.num_rows for c in chunks) == 400


@pytest.mark.parametrize(
    "pieces, expected",
    [
        ([["1", "2"], ["99999999999999999999"]], pa.string()),  # beyond int64 in a later piece: text
        ([["1", "2"], ["3"]], pa.int64()),
        ([["1.5"], ["007.5"]], pa.string()),  # a leading zero later on
        ([["1.5"], ["2"]], pa.float64()),
        ([["123"], ["1.5"]], pa.float64()),  # integers, then a decimal: float
        ([["12345678901234567"], ["1.5"]], pa.string()),  # 17 integer digits a float would round
        ([["-0", "0"], ["0.5"]], pa.float64()),
        ([["true"], ["1"]], pa.string()),
        ([["2024-02-28"], ["2024-02-30"]], pa.string()),  # matches the pattern, is no date
        ([["2024-02-28"], [None]], pa.date32()),
        ([[None], [None]], pa.string()),
    ],
)
def test_type_guess_fed_in_pieces_equals_inference_on_the_whole(pieces: list[list[str | None]], expected: pa.DataType) -> None:
    guess = TypeGuess()
    for piece in pieces:
        guess.add(pa.array(piece, pa.string()))
    assert guess.result() == expected
    assert infer_type(pa.array([v for piece in pieces for v in piece], pa.string())) == expected
    apart = [TypeGuess() for _ in pieces]  # each piece guessed alone, as on worker threads, then merged
    for g, piece in zip(apart, pieces, strict=True):
        g.add(pa.array(piece, pa.string()))
    merged = apart[0]
    for g in apart[1:]:
        merged = merged.merge(g)
    assert merged.result() == expected


@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string()])
def test_leading_zeros_found_with_signs_in_a_slice(text_type: pa.DataType) -> None:
    """The sign scan looks at the slice's own bytes: a sign outside it changes nothing."""
    arr = pa.array(["-07", "x", "-01", "+0.5", "0", None, "007", "0e5", "5"], text_type).slice(2)
    assert _leading_zero(arr, decimal=True).to_pylist() == [True, False, False, False, True, False, False]
    assert _leading_zero(arr, decimal=False).to_pylist() == [True, True, False, False, True, True, False]
    unsigned = pa.array(["-07", "1", "0.5"], text_type).slice(1)
    assert _leading_zero(unsigned, decimal=False).to_pylist() == [False, True]
