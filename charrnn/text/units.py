"""What text is read as: the unit one id stands for, and what to do with invalid UTF-8."""

UNITS = ("char", "byte")  # what one id stands for: a Unicode code point, or a byte of UTF-8
ERRORS = ("strict", "replace")  # invalid UTF-8 is an error, or read as U+FFFD
