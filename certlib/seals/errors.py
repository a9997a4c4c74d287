"""Errors of seal making and seal use, named by fault."""

from __future__ import annotations

from certlib.errors import InputError, TrustError


class SealNotFound(InputError):
    """No seal with that esID is registered here."""

    code = "SEAL_NOT_FOUND"


class SealExists(InputError):
    """A seal with that esID exists already."""

    code = "SEAL_EXISTS"


class SealStateError(InputError):
    """The seal is not in a state that allows the change asked for."""

    code = "SEAL_STATE"


class SealUseRefused(TrustError):
    """The seal may not be applied: no right, wrong document kind, not valid, over quota."""

    code = "SEAL_USE_REFUSED"


class ApprovalRequired(SealUseRefused):
    """The seal's policy asks a second person to approve this use first."""

    code = "APPROVAL_REQUIRED"


class QuotaExceeded(SealUseRefused):
    """The seal has been applied as often as its policy allows today."""

    code = "QUOTA_EXCEEDED"


class RequestNotFound(InputError):
    """No seal-use request with that id."""

    code = "REQUEST_NOT_FOUND"
