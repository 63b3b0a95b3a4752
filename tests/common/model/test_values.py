"""Property values as text (the Java way, as Spark renders them) and as metric inputs."""

import math

import pytest

from common.model.values import java_double_text, number_of, text_of


@pytest.mark.parametrize(
    ("value", "java"),
    [
        (1.5, "1.5"),
        (3.0, "3.0"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (-7.0, "-7.0"),
        (100.0, "100.0"),
        (0.1, "0.1"),
        (0.001, "0.001"),
        (0.0011, "0.0011"),
        (9.0e-4, "9.0E-4"),
        (1e20, "1.0E20"),
        (1.234e-5, "1.234E-5"),
        (12345678.0, "1.2345678E7"),
        (-2.5e-4, "-2.5E-4"),
        (9999999.0, "9999999.0"),
        (1e7, "1.0E7"),
        (-1e7, "-1.0E7"),
        (123456.789, "123456.789"),
        (1e-7, "1.0E-7"),
        (1e-10, "1.0E-10"),
        (1.5e300, "1.5E300"),
        (1.7976931348623157e308, "1.7976931348623157E308"),
        (0.30000000000000004, "0.30000000000000004"),
        (1e16, "1.0E16"),
        (123456789012.0, "1.23456789012E11"),
    ],
)
def test_java_double_text(value, java):
    assert java_double_text(value) == java


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (True, "true"),
        (False, "false"),
        ("DE", "DE"),
        ("", ""),
        (0, "0"),
        (-42, "-42"),
        (12345678901234567890, "12345678901234567890"),
        (2.0, "2.0"),
        (1e20, "1.0E20"),
    ],
)
def test_text_of(value, text):
    assert text_of(value) == text


def test_int_and_float_render_differently():
    assert text_of(1) != text_of(1.0)


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (None, None),
        (True, None),
        (False, None),
        (0, 0.0),
        (3, 3.0),
        (-2.5, -2.5),
        ("4.25", 4.25),
        (" 7 ", 7.0),
        ("1e3", 1000.0),
        ("-0.5", -0.5),
        ("", None),
        ("abc", None),
        ("12abc", None),
        ("nan", None),
        ("inf", None),
        ("-Infinity", None),
        ("1_000", None),
        ("١٢", None),
        ("0x10", None),
        ("1.5d", None),
        ("1e400", None),
        (".5", 0.5),
        ("5.", 5.0),
        ("+3E-2", 0.03),
    ],
)
def test_number_of(value, number):
    result = number_of(value)
    assert result == number
    if number is not None:
        assert isinstance(result, float)


def test_number_of_big_int_is_a_float():
    assert number_of(10**20) == 1e20
    assert not math.isnan(number_of(10**20))
