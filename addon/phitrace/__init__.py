"""phitrace: catch health data leaking to third-party trackers, as a mitmproxy addon.

Besides the ``phitrace`` command and the mitmproxy addon, the pipeline is a small
Python API.  Nothing is imported here, so that ``import phitrace`` stays cheap;
import each name from its module:

``phitrace.analyzer.Analyzer``
    The pure analysis (match → decode → detect → assess).  Build it once from the
    parsed catalogue and vocabulary (optionally canaries, limits and imported block
    lists); ``Analyzer.analyse(request, session=None)`` returns an ``Analysis`` and
    gives the same answer for the same request unless a ``Session`` is passed.
``phitrace.session.Session``
    The memory of one capture session: linkage between requests, the pages each
    origin loaded, counters.  Pass one per capture; never share it between captures.
``phitrace.model.Request``, ``phitrace.model.Analysis``, ``phitrace.model.Finding``
    Plain frozen data: a request as captured, everything concluded about it, and one
    thing found in it (its field path, the matched term, the severity).
``phitrace.catalogue.loader.load_catalogue(paths=())``
    The bundled tracker signatures plus extra YAML files or directories.
``phitrace.detect.vocabulary.load_vocabulary()``
    The bundled health vocabulary (``signatures/health/``: conditions, medications,
    procedures and more, plus the imported dictionaries).
``phitrace.detect.canaries.load_canaries(path)``
    Test-persona values to search for, from a YAML file.
``phitrace.decode.request.decode_request(request, limits=DEFAULT_LIMITS)``
    Every part of a request (URL, body, cookies, Referer) as decoded fields, each
    with its path and decode trail; never raises.
``phitrace.capture.har.read_har(path)``
    Stream ``(Request, status)`` pairs from a HAR file (``.har`` or ``.har.gz``).
``phitrace.capture.scan.scan_file(path, analyzer, db)``
    Analyse a HAR or mitmproxy flow file into a new session of a phitrace database.

Analysing one request::

    from phitrace.analyzer import Analyzer
    from phitrace.catalogue.loader import load_catalogue
    from phitrace.detect.vocabulary import load_vocabulary
    from phitrace.model import Request

    analyzer = Analyzer(load_catalogue(), load_vocabulary())
    request = Request(
        "GET",
        "https://www.facebook.com/tr?id=1&ev=PageView"
        "&dl=https%3A%2F%2Fclinic.example%2Fconditions%2Fasthma",
    )
    analysis = analyzer.analyse(request)
    analysis.vendor  # 'meta-pixel'
    analysis.severity  # 'high'
    [(f.field, f.matched) for f in analysis.findings]
    # [('query.dl', 'conditions'), ('query.dl', 'asthma')]
"""

__version__ = "0.1.0"
