"""A local file backend whose writes are atomic.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes in
place: a run killed mid-save leaves a truncated checkpoint under the final
name. This backend writes to a temporary file in the same directory, fsyncs
it and renames it over the target (``os.replace`` is atomic on POSIX), so a
checkpoint path always holds either the old or the new complete file.
Configs select it with ``default_hooks.checkpoint.backend_args =
dict(backend='atomic_local')``.
"""
from mmengine.fileio import LocalBackend, register_backend

from mmreplk.utils.atomic_write import atomic_write_bytes


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` with atomic ``put``/``put_text``.
    """

    def put(self, obj, filepath):
        atomic_write_bytes(obj, str(filepath))

    def put_text(self, obj, filepath, encoding='utf-8'):
        atomic_write_bytes(obj.encode(encoding), str(filepath))
