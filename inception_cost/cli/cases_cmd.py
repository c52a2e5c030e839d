"""``inception-cost cases``: the lecture's case-study figures (AlexNet conv1, VGG16
params and activation memory) computed from built models and audited."""
from __future__ import annotations

import click

from ..papers.case_studies import cases_report
from ..report.paper_render import render_report
from ..report.render import write_output
from .options import format_option, output_option


@click.command("cases")
@format_option()
@output_option()
def cases_cmd(fmt, output):
    """Lecture case studies (AlexNet conv1, VGG16) computed and audited.

    AlexNet's conv1 (the lecture's 96 filters vs torchvision's 64) at 227x227x3,
    VGG16's total params and its forward activation memory per image (elements and
    fp32 bytes), beside what CS231n lecture 9 prints."""
    write_output(render_report(cases_report(), fmt, envelope=True, model=["alexnet", "vgg16"]), output)
