"""The papers' printed numbers, reproduced from built models and audited.

* :mod:`.reference_data` — printed values exactly as published (package JSON);
* :mod:`.table1` — GoogLeNet's Table 1 rebuilt from the model, with findings;
* :mod:`.rethinking` — Rethinking's Table 1 outline, cost claims and Table 3 placement;
* :mod:`.bn_inception` — the BN paper's readings vs its 13.6M and NASNet's 11.2M / 1.94B;
* :mod:`.sources` — the table/section each printed number was copied from;
* :mod:`.module_example` — naive vs reduced Inception module, the 5×5 example;
* :mod:`.factorize` — factorized convolutions with measured receptive fields;
* :mod:`.case_studies` — AlexNet conv1, VGG16 params and activation memory.

Every result is a :class:`.report.PaperReport` (tables + findings, the last table its
sources); :mod:`inception_cost.report.paper_render` renders it as rich / csv / json /
md.  Units: params (elements), MACs (multiply-accumulates, the papers' multiply-adds),
activations (elements), bytes.
"""
from .paper_result import PaperReport, Section

__all__ = ["PaperReport", "Section"]
