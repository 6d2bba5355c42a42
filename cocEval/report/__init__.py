"""Report helpers: what the notebooks show, computed and worded in the library.

- :mod:`cocEval.report.blocks` report sections as data (:class:`~cocEval.report.blocks.Section`) and
  their HTML and text renderers;
- :mod:`cocEval.report.gate` the disclosure gate every table, chart and quoted count passes;
- :mod:`cocEval.report.provenance` which code, data, configuration and seeds produced a report;
- :mod:`cocEval.report.provider` the per-provider report (:class:`ProviderReport`);
- :mod:`cocEval.report.programme` the programme evaluation (:class:`ProgrammeReport`).
"""
