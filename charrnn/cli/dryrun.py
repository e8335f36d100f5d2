"""`charrnn train --dry-run`: what a run would be and cost (charrnn.dry_run), as text."""

from __future__ import annotations

import click

from ..durations import format_duration


def echo_dry_run(report: dict) -> None:
    memory = report["memory_bytes"]
    click.echo(f"model          {report['cell']} {report['layers']}x{report['hidden']}, embedding {report['embed']}: "
               f"{report['params']:,} parameters")
    click.echo(f"vocabulary     {report['vocab_size']} characters")
    click.echo(f"text           {report['train_chars']:,} training and {report['val_chars']:,} validation characters")
    click.echo(f"steps/epoch    {report['steps_per_epoch']:,} (batch {report['batch']} x seq {report['seq']} = "
               f"{report['batch'] * report['seq']:,} characters a step)")
    labels = dict(parameters="parameters", gradients="gradients", optimizer="optimiser moments",
                  activations=f"activations (B {report['batch']} x T {report['seq']})", validation="validation",
                  text="text windows")
    parts = ", ".join(f"{label} {_megabytes(memory[name])}" for name, label in labels.items())
    click.echo(f"memory         up to {_megabytes(memory['total'])}: {parts}")
    click.echo(f"speed          {report['seconds_per_step']:.3g} s/step (median of {report['timed_steps']} timed "
               f"steps on {report['threads']} thread{'s' if report['threads'] != 1 else ''}): "
               f"{format_duration(report['seconds_per_epoch'])} per epoch")
    if report["steps_left"] is not None:
        click.echo(f"budget         {report['steps_left']:,} steps from step {report['start_step']:,}, about "
                   f"{format_duration(report['seconds_left'])} of training (validation and saving not counted)")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
