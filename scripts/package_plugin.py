"""Build dist/gpu_insight-<version>.difypkg: a zip of the plugin root minus .difyignore.

Mirrors what `dify plugin package` does (gitignore-style patterns, 50 MB limit), so the package
can be built without the Dify CLI.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pathspec
import yaml

ROOT = Path(__file__).resolve().parents[1]
MAX_PACKAGE_BYTES = 50 * 1024 * 1024  # the Dify CLI's default --max-size


class PackageError(RuntimeError):
    pass


def package_files(root: Path) -> list[Path]:
    """Files that go into the package, relative to `root`, sorted."""
    ignore_file = root / ".difyignore"
    patterns = ignore_file.read_text().splitlines() if ignore_file.is_file() else []
    spec = pathspec.PathSpec.from_lines("gitwildmatch", patterns)
    return sorted(
        path.relative_to(root)
        for path in root.rglob("*")
        if path.is_file() and not spec.match_file(path.relative_to(root).as_posix())
    )


def build_package(root: Path = ROOT, out_dir: Path | None = None) -> Path:
    manifest = yaml.safe_load((root / "manifest.yaml").read_text())
    files = package_files(root)
    size = sum((root / f).stat().st_size for f in files)
    if size > MAX_PACKAGE_BYTES:
        raise PackageError(
            f"the package would hold {size / 2**20:.1f} MiB, over the 50 MiB Dify accepts; "
            "check .difyignore"
        )
    out_dir = out_dir or root / "dist"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['name']}-{manifest['version']}.difypkg"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            archive.write(root / relative, relative.as_posix())
    return target


def main() -> int:
    try:
        print(build_package())
    except PackageError as error:
        print(f"package_plugin: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
