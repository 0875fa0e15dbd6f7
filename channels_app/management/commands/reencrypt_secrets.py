"""`manage.py reencrypt_secrets`: every stored secret re-encrypted with the newest key.

The step of a key rotation between "new key first in FIELD_ENCRYPTION_KEYS" and "old key removed"
(docs/security.md). Safe to run at any time and more than once.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app import encryption
from config.management import DeskCommand


class Command(DeskCommand):
    help = _(
        "Re-encrypt every secret stored in the database (the channels' and onboardings' access "
        "tokens) with the newest key of FIELD_ENCRYPTION_KEYS; clear text left from before "
        "encryption is encrypted too."
    )

    def add_arguments(self, parser):
        self.add_dry_run_arg(parser)

    def handle(self, *args, **options):
        try:
            encryption.require_production_keys()
            reports = encryption.reencrypt_all(dry_run=options["dry_run"])
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        for report in reports:
            self.stdout.write(
                _(
                    "%(label)s: %(rows)d stored, %(current)d already under the newest key, "
                    "%(rotated)d under an older key, %(in_clear)d in clear text, "
                    "%(undecryptable)d undecryptable."
                )
                % vars(report)
            )
        changed = sum(r.rotated + r.in_clear for r in reports)
        if options["dry_run"]:
            self.stdout.write(
                ngettext(
                    "Dry run: %(count)d secret would be re-encrypted; nothing was changed.",
                    "Dry run: %(count)d secrets would be re-encrypted; nothing was changed.",
                    changed,
                )
                % {"count": changed}
            )
        else:
            self.stdout.write(
                ngettext(
                    "%(count)d secret re-encrypted with the newest key.",
                    "%(count)d secrets re-encrypted with the newest key.",
                    changed,
                )
                % {"count": changed}
            )
        undecryptable = sum(r.undecryptable for r in reports)
        if undecryptable:
            raise CommandError(
                ngettext(
                    "%(count)d stored secret cannot be decrypted with any key of "
                    "FIELD_ENCRYPTION_KEYS and was left unchanged: put the key it was "
                    "encrypted with back into the list.",
                    "%(count)d stored secrets cannot be decrypted with any key of "
                    "FIELD_ENCRYPTION_KEYS and were left unchanged: put the key they were "
                    "encrypted with back into the list.",
                    undecryptable,
                )
                % {"count": undecryptable}
            )
