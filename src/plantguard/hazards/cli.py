"""``plantguard eval hazards``: score the hazard-text classifier on its fixed held-out split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def eval_hazards(
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON result to this file")] = None,
) -> None:
    """Train on the fixed training part of hazards/data/training.yaml and print the held-out
    accuracy (category, grade, 重大 recall) as JSON."""
    from plantguard.hazards.classifier import evaluate

    text = json.dumps(evaluate(), ensure_ascii=False, indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    typer.echo(text)
