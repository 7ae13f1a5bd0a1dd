"""The one signal ``alignment`` sends: the rest of the portal reacts to a published agreement.

``leads`` connects its rescoring handler in ``LeadsConfig.ready()`` so that ``alignment`` never
imports ``leads`` (dependency direction ``sla → leads → alignment``).
"""

from django.dispatch import Signal

# Sent inside the publishing transaction with ``version_id``; receivers queue work on commit.
agreement_published = Signal()
