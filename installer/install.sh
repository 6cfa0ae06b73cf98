#!/bin/sh
# Installs DreamStyle on macOS or Linux: its own Python environment with the `dreamstyle` command, and the
# launcher for DaVinci Resolve's Workspace > Scripts > Utility menu. Run it again to upgrade.
#   sh installer/install.sh [--prefix DIR] [--scripts-dir DIR] [--source DIR|WHEEL|SPEC] [--python PY] [--extras LIST]
#   sh installer/install.sh --uninstall [--prefix DIR]
# Offline or mirrored installs: DREAMSTYLE_PIP_ARGS="--no-index --find-links /path/to/wheels".
# Uninstalling removes exactly what the install placed (listed in PREFIX/install-manifest.txt); the panel's
# settings stay.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
case "$(uname -s)" in
  Darwin)
    prefix="$HOME/Library/Application Support/DreamStyle"
    scripts="$HOME/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Utility" ;;
  *)
    prefix="${XDG_DATA_HOME:-$HOME/.local/share}/dreamstyle"
    scripts="$HOME/.local/share/DaVinciResolve/Fusion/Scripts/Utility" ;;
esac
source_spec=$(dirname "$here")
python=python3
extras=host,panel,engine
action=install

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit "$1"; }
# Stops when option "$1" has no value: missing, or another option (`--prefix --uninstall` would install into
# a folder named --uninstall).
value() {
  case "${2--}" in -*) echo "install.sh: $1 needs a value" >&2; usage 2 ;; esac
}
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) value "$@"; prefix=$2; shift 2 ;;
    --scripts-dir) value "$@"; scripts=$2; shift 2 ;;
    --source) value "$@"; source_spec=$2; shift 2 ;;
    --python) value "$@"; python=$2; shift 2 ;;
    --extras) value "$@"; extras=$2; shift 2 ;;
    --uninstall) action=uninstall; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
  esac
done

# Prints $1 as an absolute path (from the current folder), whether or not it exists yet: the launcher runs from
# Resolve's folder and an uninstall may run from another one.
absolute() {
  d=$1; rest=""
  case "$d" in /*) ;; *) d="./$d" ;; esac
  while [ ! -d "$d" ]; do rest="/$(basename "$d")$rest"; d=$(dirname "$d"); done
  printf '%s%s\n' "$(CDPATH= cd "$d" && pwd)" "$rest"
}
prefix=$(absolute "$prefix")
scripts=$(absolute "$scripts")
manifest="$prefix/install-manifest.txt"
venv="$prefix/venv"

# Prints, outermost first, the folders `mkdir -p "$1"` would create.
missing_dirs() {
  d=$1; out=""
  while [ ! -d "$d" ]; do out="$d
$out"; d=$(dirname "$d"); done
  printf '%s' "$out"
}

# True when the manifest lists the entry "$1": an earlier run of this installer placed it.
placed() { [ -f "$manifest" ] && grep -qxF "$1" "$manifest"; }

# Adds the entry "$1" to the manifest, once.
record() { placed "$1" || printf '%s\n' "$1" >> "$manifest"; }

# Stops before anything is changed when "$2" exists and is not the manifest's entry "$1 $2": it is the user's
# own, which installing would replace and uninstalling would remove. "$3" says what to do.
refuse_foreign() {
  if { [ -e "$2" ] || [ -L "$2" ]; } && ! placed "$1 $2"; then
    echo "install.sh: $2 already exists and this installer did not place it; it is left alone: $3" >&2
    exit 1
  fi
}

# Stops before anything is changed when the folder "$1", or the nearest one above it that exists, cannot be
# written: a read-only Resolve Scripts folder would otherwise fail only after the environment was built.
refuse_unwritable() {
  d=$1
  while [ ! -d "$d" ]; do d=$(dirname "$d"); done
  if [ ! -w "$d" ]; then
    echo "install.sh: $d cannot be written: $2" >&2
    exit 1
  fi
}

# Creates a folder, recording each level this installer created so uninstalling removes only those
# (the manifest lives in the prefix, so the prefix is made first).
make_dir() {
  new=$(missing_dirs "$1")
  mkdir -p "$1"
  printf '%s\n' "$new" | while IFS= read -r d; do [ -z "$d" ] || record "dir $d"; done
}

install() {
  launcher="$scripts/DreamStyle.py"
  log="$prefix/panel.log"
  refuse_foreign tree "$venv" "move it away, or install into another folder with --prefix DIR"
  refuse_foreign file "$launcher" "move it away, or put DreamStyle's launcher in another folder with --scripts-dir DIR"
  refuse_unwritable "$prefix" "install into another folder with --prefix DIR"
  refuse_unwritable "$scripts" "put DreamStyle's launcher in another folder with --scripts-dir DIR"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "install.sh: DreamStyle needs Python 3.10 or later, which $python is not: choose one with --python PY" >&2
    exit 1
  fi
  make_dir "$prefix"
  record "tree $venv"
  [ -e "$log" ] || record "file $log"  # the panel's log, written later; one there already is the user's

  echo "Creating the environment in $venv"
  # Made again over itself, an environment keeps its Python: one gone since (a Homebrew upgrade) or of another
  # version than $python is made anew.
  version='import sys; print(sys.version_info[:2])'
  clear=""
  [ ! -d "$venv" ] || [ "$("$venv/bin/python" -c "$version" 2>/dev/null)" = "$("$python" -c "$version")" ] ||
    clear=--clear
  "$python" -m venv $clear "$venv"
  spec=$source_spec
  if [ -e "$source_spec" ]; then spec="$source_spec[$extras]"; fi
  torch=""  # the extras with diffusion or TransNetV2 take torch at the version DreamStyle is tested with
  case ",$extras," in *,ml,*|*,detect,*|*,all,*) torch=torch==2.13.0 ;; esac
  echo "Installing $spec $torch"
  # shellcheck disable=SC2086  # DREAMSTYLE_PIP_ARGS is a list of options; $torch is one word or none
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check ${DREAMSTYLE_PIP_ARGS:-} "$spec" $torch

  make_dir "$scripts"
  record "file $launcher"
  "$venv/bin/python" - "$here/DreamStyle.py" "$launcher" "$venv/bin/python" "$log" <<'EOF'
import sys
template, target, python, log = sys.argv[1:]
text = open(template, encoding="utf-8").read().replace("@PYTHON@", python).replace("@LOG@", log)
open(target, "w", encoding="utf-8").write(text)
EOF

  echo "Installed. Command: $venv/bin/dreamstyle"
  echo "DaVinci Resolve: Workspace > Scripts > Utility > DreamStyle (launcher: $launcher)"
  echo "Check the set-up with: $venv/bin/dreamstyle doctor"
}

uninstall() {
  if [ ! -f "$manifest" ]; then
    echo "install.sh: nothing to uninstall under $prefix ($manifest not found)" >&2
    exit 1
  fi
  entries=$(awk '!seen[$0]++' "$manifest")
  printf '%s\n' "$entries" | while IFS= read -r line; do
    case "$line" in
      "file "*) rm -f "${line#file }" ;;
      "tree "*) rm -rf "${line#tree }" ;;
    esac
  done
  rm -f "$manifest"
  printf '%s\n' "$entries" | awk '{ lines[NR] = $0 } END { for (i = NR; i > 0; i--) print lines[i] }' |
    while IFS= read -r line; do
      case "$line" in "dir "*) rmdir "${line#dir }" 2>/dev/null || true ;; esac
    done
  echo "DreamStyle removed from $prefix and the Resolve Scripts folder."
}

"$action"
