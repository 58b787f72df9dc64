"""The web map: ``app`` (the requests without HTTP: endpoints, checks and counters; pure),
``server`` (``WebMap``: bind, serve, stop), ``handler`` (one HTTP request in and its answer out)
and ``http_pool`` (the bounded HTTP server). The page's own files are the package data
``osc_bridge/web/``."""
