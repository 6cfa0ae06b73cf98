"""DreamStyle for DaVinci Resolve: Workspace > Scripts > Utility > DreamStyle opens the DreamStyle panel.

Resolve runs this file with its own Python, which may lack PySide6 and the product's packages, so it only
starts the panel in DreamStyle's own environment (written in by the installer), connected to this Resolve
through its scripting API. Standard library only; runs on any Python 3 that Resolve uses.
"""

import os
import subprocess
import sys

PYTHON = r"@PYTHON@"
LOG = r"@LOG@"


def main():
    if not os.path.isfile(PYTHON):
        print("DreamStyle: its environment is gone (" + PYTHON + "); run the installer again.")
        return
    # The panel starts detached and says why it stopped only in its log: a panel not installed in the
    # environment (the `panel` extra left out, an install cut short) is said here, in Resolve's console.
    check = subprocess.run([PYTHON, "-c", "import dreamstyle.cli, PySide6"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if check.returncode:
        said = check.stdout.strip().splitlines() or ["exit status " + str(check.returncode)]
        print("DreamStyle: the panel is not installed in its environment (" + said[-1] + "); run the installer again.")
        return
    options = {"start_new_session": True}
    if sys.platform == "win32":
        options = {"creationflags": 0x00000008 | 0x00000200}  # DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP
    with open(LOG, "ab") as log:
        subprocess.Popen([PYTHON, "-m", "dreamstyle.cli", "panel", "--resolve"], cwd=os.path.dirname(LOG),
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True, **options)
    print("DreamStyle: the panel is starting; its log is " + LOG)


main()
