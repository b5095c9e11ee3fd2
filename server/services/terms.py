"""The trial's CTCAE v5.0 term list, read once from the packaged data file."""

from __future__ import annotations

from functools import cache
from importlib import resources

from ..domain.ctcae import Term, parse_term_list

TERM_LIST_FILE = "ctcae_v5_trial_terms.csv"


@cache
def trial_terms() -> dict[int, Term]:
    text = resources.files("server").joinpath("data", TERM_LIST_FILE).read_text(encoding="utf-8")
    return parse_term_list(text)
