"""Figures -> subject, plain text and HTML, through Jinja templates (``summary.html``, ``summary.txt``
with the wording of ``_labels.<lang>.j2``; ``subject.<lang>.txt``).

Why these settings: caller names come from caller ID, which anyone can set, so HTML is
autoescaped (``select_autoescape`` looks at the *final* extension: ``.html`` is escaped,
``.txt`` is not); ``StrictUndefined`` makes a typo in a template an error instead of a blank
figure in a manager's inbox. Numbers and dates go through Babel so Russian readers see
``24 000`` and ``25 ноября 2026 г.``; Russian plurals use :func:`plural_ru` (no gettext catalogs
for two languages).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from asterisk_bridge.config import Config
from asterisk_bridge.resources import templates_dir as shipped_templates_dir

from .definitions import AGE_GROUPS, BUCKETS, DEFINITIONS
from .errors import SummaryTemplateError
from .figures import Counts, Figures, Totals

LANGUAGES = ("ru", "en")


def plural_ru(n: int | float, one: str, few: str, many: str) -> str:
    """Russian noun form for ``n``: 1 звонок, 2 звонка, 5 звонков, 11 звонков, 21 звонок."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def plural_en(n: int | float, one: str, other: str) -> str:
    return one if abs(n) == 1 else other


def template_dirs(config: Config) -> list[Path]:
    """The configured ``summary.templates_dir`` first (it overrides), then the shipped templates."""
    dirs = []
    if config.summary.templates_dir:
        custom = Path(config.summary.templates_dir)
        if not custom.is_dir():
            raise SummaryTemplateError(custom, "*", "summary.templates_dir is not a directory")
        dirs.append(custom)
    dirs.append(shipped_templates_dir())
    return dirs


def environment(dirs: list[Path], language: str) -> jinja2.Environment:
    return _environment(tuple(str(d) for d in dirs), language)


@lru_cache(maxsize=16)
def _environment(dirs: tuple[str, ...], language: str) -> jinja2.Environment:
    """One environment per (directories, language): Jinja then caches compiled templates
    (and checks their mtime, so an edited template is picked up)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(dirs)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(filters(language))
    return env


def filters(language: str) -> dict[str, Any]:
    """The formatting filters of every template (summary and web console): ``num``, ``pct``,
    ``secs``, ``dur``, ``day``, ``field``, ``plural_ru``, ``plural_en``; Babel's locale for ``language``."""
    locale = "ru_RU" if language == "ru" else "en_GB"

    def num(value: Any, digits: int = 0) -> str:
        if value is None:
            return "—"
        fmt = "#,##0" if not digits else "#,##0." + "0" * digits
        return format_decimal(value, format=fmt, locale=locale)

    def pct(value: float | None) -> str:
        return "—" if value is None else format_percent(value, format="#,##0.0%", locale=locale)

    def secs(value: float | None) -> str:
        if value is None:
            return "—"
        total = int(round(value))
        minutes, seconds = divmod(total, 60)
        if language == "ru":
            return f"{minutes} мин {seconds:02d} с" if minutes else f"{seconds} с"
        return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"

    def dur(value: float | None) -> str:
        """A span of an operator's day: under an hour as ``secs``, else hours and minutes."""
        if value is None or value < 3600:
            return secs(value)
        hours, minutes = divmod(int(round(value / 60)), 60)
        return f"{hours} ч {minutes:02d} мин" if language == "ru" else f"{hours} h {minutes:02d} min"

    def day(value: date, fmt: str = "long") -> str:
        return format_date(value, format=fmt, locale=locale)

    def field(obj: Any, name: str) -> Any:
        return None if obj is None else getattr(obj, name)  # queue figures are None without AMI data

    return dict(num=num, pct=pct, secs=secs, dur=dur, day=day, field=field, plural_ru=plural_ru, plural_en=plural_en)


def render_summary(figures: Figures, config: Config, *, language: str | None = None) -> tuple[str, str, str]:
    """``(subject, text, html)`` for ``figures`` in the configured (or given) language."""
    language = language or config.summary.language
    if language not in LANGUAGES:
        raise ValueError(f"summary language {language!r}: expected one of {', '.join(LANGUAGES)}")
    dirs = template_dirs(config)
    env = environment(dirs, language)
    context = summary_context(figures, config, language)
    subject = _render(env, dirs, [f"subject.{language}.txt"], context)
    text = _render(env, dirs, [f"summary.{language}.txt", "summary.txt"], context)
    html = _render(env, dirs, [f"summary.{language}.html", "summary.html"], context)
    return " ".join(subject.split()), text, html


def labels(figures: Figures, config: Config, *, language: str | None = None) -> Any:
    """The summary's wording (``_labels.<lang>.j2``) as an object, for output that is not a
    template (the CSV's row names): ``labels(...).total``, ``.no_topic``, ``.age[code]``."""
    language = language or config.summary.language
    dirs = template_dirs(config)
    env = environment(dirs, language)
    name = f"_labels.{language}.j2"
    try:
        return env.get_template(name).make_module(summary_context(figures, config, language))
    except jinja2.TemplateError as exc:
        raise SummaryTemplateError(" or ".join(str(d) for d in dirs), name, str(exc)) from None


def _render(env: jinja2.Environment, dirs: list[Path], names: list[str], context: dict[str, Any]) -> str:
    """The first of ``names`` found (a ``summary.<lang>.*`` of the admin's overrides the shared
    ``summary.*``, whose wording comes from ``_labels.<lang>.j2``)."""
    where = " or ".join(str(d) for d in dirs)
    name = " or ".join(names)
    try:
        return env.select_template(names).render(context)
    except jinja2.TemplateNotFound:
        raise SummaryTemplateError(where, name, "template not found") from None
    except jinja2.TemplateSyntaxError as exc:
        raise SummaryTemplateError(exc.filename or where, name, f"line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise SummaryTemplateError(where, name, f"undefined value: {exc.message}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise SummaryTemplateError(where, name, f"{type(exc).__name__}: {exc}") from None


#: The counts the comparison and the totals show (the same in both parts of the email).
HEADLINE_BUCKETS = ("offered", "answered", "abandoned_queue", "selfservice")


def summary_context(figures: Figures, config: Config, language: str) -> dict[str, Any]:
    """What the summary templates (and the web console's figures page) see."""
    main = figures.main
    peak = max(main.total.hours) if any(main.total.hours) else 0
    line_order = list(config.lines)

    def totals_columns(totals: Totals) -> list[tuple[str | None, Counts]]:
        """``(line or None for all lines, counts)`` columns of a totals table, lines in config
        order; one line alone is its own total (as in the calls table)."""
        lines = [n for n in line_order if n in totals.lines] + sorted(n for n in totals.lines if n not in line_order)
        if len(lines) == 1:
            return [(lines[0], totals.lines[lines[0]])]
        return [(None, totals.total), *((n, totals.lines[n]) for n in lines)]

    return {
        "f": figures,
        "period": main.period,
        "total": main.total,
        "lines": main.lines,
        "sections": [main.total, *main.lines] if len(main.lines) > 1 else main.lines or [main.total],
        "source": main.source,
        "d": figures.definitions,
        "definitions": DEFINITIONS,
        "completeness": figures.completeness,
        "buckets": BUCKETS,
        "age_groups": AGE_GROUPS,
        "peak_hour_calls": peak,
        "node": config.node,
        "language": language,
        "masked": config.privacy.mask_callers,
        "headline_buckets": HEADLINE_BUCKETS,
        "totals_columns": totals_columns,
        "line_names": {number: line.name for number, line in config.lines.items()},
    }
