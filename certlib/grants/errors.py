"""Errors of grants, delegations and uses, named by fault."""

from __future__ import annotations

from certlib.errors import InputError, TrustError


class GrantNotFound(InputError):
    """No grant with that id (for this holder)."""

    code = "GRANT_NOT_FOUND"


class DelegationNotFound(InputError):
    """No delegation with that id (for this holder or agent)."""

    code = "DELEGATION_NOT_FOUND"


class GrantTokenInvalid(InputError):
    """The grant token is malformed, altered, or not signed by this platform."""

    code = "GRANT_TOKEN_INVALID"


class GrantRefused(TrustError):
    """The grant does not allow this use: revoked, outside its window, another audience, or
    a certificate that is no longer valid."""

    code = "GRANT_REFUSED"


class GrantUsedUp(GrantRefused):
    """Every use the grant allows has been made."""

    code = "GRANT_USED_UP"


class AudienceMismatch(GrantRefused):
    """The grant was made for another department."""

    code = "GRANT_AUDIENCE"


class DelegationRefused(TrustError):
    """The delegation does not allow this: it widens its parent, is too deep, revoked,
    outside its window, used up, or another agent's."""

    code = "DELEGATION_REFUSED"


class NoDuty(TrustError):
    """The department has no legal duty for this matter."""

    code = "NO_DUTY"
