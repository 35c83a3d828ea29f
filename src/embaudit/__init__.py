"""embaudit: do trends read off a neural network's embedding survive held-out data?

Public API: :func:`audit`, :func:`load_result` (a finished audit read back from its
folder), :func:`check_claim` / :func:`check_claims` (with :func:`load_member` for a saved
audit's network), :func:`load_table`, :mod:`embaudit.worlds`, and the configuration and
result objects.

Names load on first use (SPEC 1, ``lazy_loader`` reading ``__init__.pyi``): ``import
embaudit`` imports neither torch nor Lightning, and changes nothing in the process.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)

__version__ = "0.1.0"
