"""`tlspec compile` with the cache, --keep-going and several processes, and `tlspec cache`."""
import os

from conftest import ROOT, tlspec

COPY_TILES = ROOT / "specs" / "copy_tiles.tlspec.yaml"
IM2COL = ROOT / "specs" / "im2col.tlspec.yaml"


def env_with(cache, **more):
    return {**os.environ, "TLSPEC_CACHE_DIR": str(cache), **more}


def test_an_unchanged_spec_compiles_from_the_cache_without_tvm(tmp_path):
    """The second compile gives the same package and output with a tvm that cannot be imported:
    the cache answered (warnings included: here a deprecated stage kind)."""
    spec = tmp_path / "im2col.tlspec.yaml"
    spec.write_text(IM2COL.read_text().replace("- im2col:", "- c2d_im2col:"))
    env = env_with(tmp_path / "cache")
    first = tlspec("compile", str(spec), "-o", str(tmp_path / "a"), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "warning: 'c2d_im2col' is deprecated" in first.stdout
    broken = tmp_path / "broken"
    (broken / "tvm").mkdir(parents=True)
    (broken / "tvm" / "__init__.py").write_text("raise ImportError('tvm must not be imported')\n")
    path = os.pathsep.join([str(broken), os.environ.get("PYTHONPATH", "")])
    again = tlspec("compile", str(spec), "-o", str(tmp_path / "a"), env={**env, "PYTHONPATH": path})
    assert (again.returncode, again.stdout, again.stderr) == (0, first.stdout, "")
    reformatted = tmp_path / "other.tlspec.yaml"     # another file, the same kernel: validated,
    reformatted.write_text("# a comment\n\n" + spec.read_text())      # but not compiled again
    moved = tlspec("compile", str(reformatted), "-o", str(tmp_path / "b"),
                   env={**env, "PYTHONPATH": path})
    assert moved.returncode == 0, moved.stdout
    assert f"{reformatted}:33:5: warning: 'c2d_im2col' is deprecated" in moved.stdout
    assert (tmp_path / "b" / "im2col_3x3.cubin").read_bytes() == \
        (tmp_path / "a" / "im2col_3x3.cubin").read_bytes()


def test_keep_going_compiles_every_spec_it_can(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "good.tlspec.yaml").write_text(COPY_TILES.read_text())
    (folder / "bad.tlspec.yaml").write_text(
        COPY_TILES.read_text().replace("copy_tiles", "bad_tiles").replace("float16", "fp16", 1))
    out = tmp_path / "kernels"
    env = env_with(tmp_path / "cache")
    strict = tlspec("compile", str(folder), "-o", str(out), env=env)
    assert strict.returncode == 1 and not out.exists()
    result = tlspec("compile", str(folder), "-o", str(out), "--keep-going", env=env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{folder}/bad.tlspec.yaml:12:46: error: unknown dtype")
    assert lines[-2:] == [f"compiled 1 kernel into {out}: copy_tiles",
                          f"1 error; left out of {out}: {folder}/bad.tlspec.yaml"]
    assert (out / "copy_tiles.cubin").is_file() and not (out / "bad_tiles.py").exists()


def test_several_processes_compile_without_a_progress_bar_off_a_terminal(tmp_path):
    out = tmp_path / "kernels"
    result = tlspec("compile", str(COPY_TILES), str(IM2COL), "-o", str(out), "-j", "2",
                    "--no-cache", env=env_with(tmp_path / "cache"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert result.stdout == f"compiled 2 kernels into {out}: copy_tiles, im2col_3x3\n"
    assert not (tmp_path / "cache").exists()          # --no-cache: neither read nor written


def test_cache_info_and_clear(tmp_path):
    env = env_with(tmp_path / "cache")
    assert tlspec("compile", str(COPY_TILES), "-o", str(tmp_path / "k"), env=env).returncode == 0
    info = tlspec("cache", "info", env=env)
    assert info.returncode == 0
    lines = info.stdout.splitlines()
    assert lines[0] == f"cache: {tmp_path / 'cache'}"
    assert lines[1].startswith("kernels: 1 (") and lines[2].startswith("files: 1 (")
    assert lines[3] == "packages: 0 (0 bytes)" and lines[4].startswith("launchers: 1 (")
    assert lines[5].startswith("total: ")
    cleared = tlspec("cache", "clear", env=env)
    assert cleared.stdout == f"removed 3 entries from {tmp_path / 'cache'}\n"
    assert tlspec("cache", "info", env=env).stdout.splitlines()[1] == "kernels: 0 (0 bytes)"


def test_two_compiles_of_one_spec_at_once_share_one_entry(tmp_path):
    import subprocess
    import sys

    env = env_with(tmp_path / "cache")
    procs = [subprocess.Popen([sys.executable, "-m", "tlspec", "compile", str(COPY_TILES), "-o",
                               str(tmp_path / f"k{i}")], env=env, stdout=subprocess.PIPE,
                              text=True) for i in range(2)]
    outputs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sorted(e.name for e in (tmp_path / "cache").iterdir()) == [
        "files", "kernels", "launchers", "tmp", "usage"]      # usage: the bytes held (a size)
    assert int((tmp_path / "cache" / "usage").read_text()) > 0
    assert len(list((tmp_path / "cache" / "kernels").iterdir())) == 1
    assert not any((tmp_path / "cache" / "tmp").iterdir())
    assert (tmp_path / "k0" / "copy_tiles.cubin").read_bytes() == \
        (tmp_path / "k1" / "copy_tiles.cubin").read_bytes()


def test_cache_info_shows_the_limit_and_clear_older_than_keeps_recent_entries(tmp_path):
    env = env_with(tmp_path / "cache", TLSPEC_CACHE_MAX_BYTES="500M")
    assert tlspec("compile", str(COPY_TILES), "-o", str(tmp_path / "k"), env=env).returncode == 0
    info = tlspec("cache", "info", env=env)
    assert info.stdout.splitlines()[-1] == "limit: 500.0 MB ($TLSPEC_CACHE_MAX_BYTES)"
    none = tlspec("cache", "info", env={**env, "TLSPEC_CACHE_MAX_BYTES": "0"})
    assert none.stdout.splitlines()[-1] == "limit: none ($TLSPEC_CACHE_MAX_BYTES)"
    kept = tlspec("cache", "clear", "--older-than", "1", env=env)
    assert kept.stdout == f"removed 0 entries from {tmp_path / 'cache'}\n"
    assert tlspec("cache", "info", env=env).stdout.splitlines()[1].startswith("kernels: 1 (")


def test_a_limit_that_is_not_a_size_is_a_usage_error(tmp_path):
    env = env_with(tmp_path / "cache", TLSPEC_CACHE_MAX_BYTES="lots")
    for args in (("cache", "info"), ("compile", str(COPY_TILES), "-o", str(tmp_path / "k"))):
        done = tlspec(*args, env=env)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("tlspec: error: TLSPEC_CACHE_MAX_BYTES='lots' is not a "
                                      "size: give bytes"), done.stderr
