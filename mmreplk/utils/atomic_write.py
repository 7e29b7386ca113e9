"""Write a file so that readers never see it half written."""
import json
import os
import os.path as osp
import tempfile


def atomic_write_bytes(data, filepath):
    """Write ``data`` to a temporary file next to ``filepath``, fsync it and
    rename it over ``filepath``; on any error the old file stays as it was.
    """
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
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


def atomic_write_json(obj, filepath):
    """:func:`atomic_write_bytes` of ``obj`` as indented JSON."""
    atomic_write_bytes((json.dumps(obj, indent=2) + '\n').encode(), filepath)
