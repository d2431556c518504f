#!/usr/bin/env bash
# Prints the path of a Python 3.12 interpreter: on PATH first, then through pyenv.
set -u
is_312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; }
for candidate in python3.12 python3 python; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if is_312 "$path"; then echo "$path"; exit 0; fi
done
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)")
roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
for root in "${roots[@]}"; do
  for path in $(ls -d "$root"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do
    if is_312 "$path"; then echo "$path"; exit 0; fi
  done
done
cat >&2 <<'MSG'
GPU Insight needs Python 3.12, and none was found on PATH or through pyenv.
Install it, for example:
  Debian/Ubuntu:  sudo apt-get install python3.12 python3.12-venv
  pyenv:          pyenv install 3.12
then run the make command again.
MSG
exit 1
