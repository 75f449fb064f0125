"""Password and secret strength: zxcvbn's estimate for passwords (the user name counts as a
known word), an entropy estimate for the signing secret."""

from __future__ import annotations

import math
from collections import Counter

from zxcvbn import zxcvbn

from server.errors import ApiError

MIN_PASSWORD_LENGTH = 8
ZXCVBN_MAX_CHARS = 72  # zxcvbn refuses longer input; the first 72 characters decide
MIN_SECRET_BITS = 128


def password_problem(password: str, username: str | None, min_score: int) -> str | None:
    """Why ``password`` is too weak (None when it is strong enough).

    Rules: at least 8 characters, not containing the user name, and a zxcvbn score (0-4, an
    estimate of log10 guesses from dictionaries, keyboard patterns, dates and repeats) of at
    least ``min_score``.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must have at least {MIN_PASSWORD_LENGTH} characters"
    name = (username or "").strip().lower()
    if len(name) >= 3 and name in password.lower():
        return "must not contain the user name"
    result = zxcvbn(password[:ZXCVBN_MAX_CHARS], user_inputs=[username] if username else [])
    if result["score"] >= min_score:
        return None
    feedback = result["feedback"]
    hints = " ".join(part for part in [feedback["warning"], *feedback["suggestions"]] if part)
    message = f"too easy to guess (strength {result['score']} of 4, at least {min_score} needed)"
    return f"{message}: {hints}" if hints else message


def secret_bits(secret: str) -> float:
    """A conservative entropy estimate in bits: the smaller of the text's Shannon entropy
    (characters' frequencies x length) and zxcvbn's log2 guesses."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    guesses_log2 = zxcvbn(secret[:ZXCVBN_MAX_CHARS])["guesses_log10"] * math.log2(10)
    if len(secret) > ZXCVBN_MAX_CHARS:  # the rest adds at most its Shannon share
        guesses_log2 += per_char * (len(secret) - ZXCVBN_MAX_CHARS)
    return min(per_char * len(secret), guesses_log2)


def require_strong_password(
    password: str, username: str | None, min_score: int, field: str = "password"
) -> None:
    """422 naming ``field`` when ``password`` breaks the rules of ``password_problem``."""
    problem = password_problem(password, username, min_score)
    if problem:
        raise ApiError(422, f"{field}: {problem}", field=field)
