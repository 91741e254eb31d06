"""The browser UI of the supply-chain model (Solara), launched by ``abm ui``.

``viz`` imports :mod:`abm`, never the reverse. The view-model modules
(:mod:`viz.levers`, :mod:`viz.layout`, :mod:`viz.wording`, :mod:`viz.recorder`,
:mod:`viz.svg`, :mod:`viz.session`) are plain Python and tested without a
browser; :mod:`viz.app` is the Solara page and :mod:`viz.server` serves it.
"""
