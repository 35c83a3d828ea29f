# What `import embaudit` offers. __init__.py loads each name from here on first use
# (SPEC 1 lazy loading with lazy_loader), so importing the package imports nothing heavy.
from . import worlds as worlds
from .claims import ClaimReport as ClaimReport
from .claims import ClaimVerdict as ClaimVerdict
from .claims import check_claim as check_claim
from .claims import check_claims as check_claims
from .config import AuditConfig as AuditConfig
from .data.table import Table as Table
from .data.table import load_table as load_table
from .errors import ConfigError as ConfigError
from .errors import DataError as DataError
from .errors import EmbauditError as EmbauditError
from .model import MemberModel as MemberModel
from .model import load_member as load_member
from .pipeline import audit as audit
from .results import AuditResult as AuditResult
from .results import Position as Position
from .results import load_result as load_result

__version__: str
