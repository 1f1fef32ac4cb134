"""``factory report``: a static HTML site about the factory's work, written from the store (stage layer).

``queries`` (overview numbers, SQL aggregates), ``evals`` (evaluation and repair runs), ``pages`` (instances
streamed by a merge of sorted queries), ``evidence`` (the decisive run, log excerpts, diffs), ``charts``
(inline SVG of our own), ``disk`` (image sizes from the engine, optional), ``site`` (templates → files).
"""

from factory.report.site import Written, build_report

__all__ = ["Written", "build_report"]
