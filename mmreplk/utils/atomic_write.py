"""Write a file so that readers never see it half written."""
import os
import os.path as osp
import tempfile


def atomic_write_bytes(data, filepath):
    """Write ``data`` to ``filepath`` so that readers never see a partial
    file; on any error the previous file (if any) is left untouched.

    The bytes go to a temporary file in the same directory, which is fsynced
    and renamed over the target (``os.replace`` is atomic on POSIX).
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
