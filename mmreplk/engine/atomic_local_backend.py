"""A local file backend whose writes are atomic.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes in
place: a run killed mid-save leaves a truncated checkpoint under the final
name. This backend writes to a temporary file in the same directory, fsyncs
it and renames it over the target (``os.replace`` is atomic on POSIX), so a
checkpoint path always holds either the old or the new complete file.
Configs select it with ``default_hooks.checkpoint.backend_args =
dict(backend='atomic_local')``.
"""
import os
import os.path as osp
import tempfile

import mmengine
from mmengine.fileio import LocalBackend, register_backend


def atomic_write_bytes(data, filepath):
    """Write ``data`` to ``filepath`` so that readers never see a partial
    file; on any error the previous file (if any) is left untouched."""
    directory = osp.dirname(osp.abspath(filepath))
    mmengine.mkdir_or_exist(directory)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
    try:
        # mkstemp creates the file 0600; give it the mode open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` with atomic ``put``/``put_text``.
    """

    def put(self, obj, filepath):
        atomic_write_bytes(obj, str(filepath))

    def put_text(self, obj, filepath, encoding='utf-8'):
        atomic_write_bytes(obj.encode(encoding), str(filepath))
