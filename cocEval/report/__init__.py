"""Report helpers: what the notebooks show, computed and worded in the library.

- :mod:`cocEval.report.display` headings, findings, tables (through disclosure control), figures;
- :mod:`cocEval.report.provider` the per-provider report (:class:`ProviderReport`);
- :mod:`cocEval.report.programme` the programme evaluation (:class:`ProgrammeReport`).
"""
