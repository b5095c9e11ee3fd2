"""Pure clinical rules: values with units, formulas, grading. Standard library only, no I/O, no clock."""
