"""`baocao web`: the Office's status board, the Director's approval page and the units' web submission."""

from flows.web.app import approval_link, create_app, run_web, unit_link
from flows.web.security import WebSecretMissing, load_secret, unit_link_url
from tasks.approvals import hash_password, hash_password_cli

__all__ = ["approval_link", "create_app", "hash_password", "hash_password_cli", "load_secret", "run_web",
           "unit_link", "unit_link_url", "WebSecretMissing"]
