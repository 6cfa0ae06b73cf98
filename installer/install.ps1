<#
.SYNOPSIS
Installs DreamStyle on Windows: its own Python environment with the `dreamstyle` command, and the launcher
for DaVinci Resolve's Workspace > Scripts > Utility menu. Run it again to upgrade.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File installer\install.ps1 [-Prefix DIR] [-ScriptsDir DIR] [-Source DIR|WHEEL|SPEC] [-Python PY] [-Extras LIST]
powershell -ExecutionPolicy Bypass -File installer\install.ps1 -Uninstall [-Prefix DIR]

.NOTES
Offline or mirrored installs: $env:DREAMSTYLE_PIP_ARGS = "--no-index --find-links C:\wheels".
Uninstalling removes exactly what the install placed (listed in PREFIX\install-manifest.txt); the panel's
settings stay. Mirrors install.sh.
#>
param(
    [string]$Prefix = (Join-Path $env:LOCALAPPDATA "DreamStyle"),
    [string]$ScriptsDir = (Join-Path $env:APPDATA "Blackmagic Design\DaVinci Resolve\Support\Fusion\Scripts\Utility"),
    [string]$Source = (Split-Path -Parent $PSScriptRoot),
    [string]$Python = "python",
    [string]$Extras = "host,panel,engine",
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"
# Absolute paths, from PowerShell's current folder (what .NET's GetFullPath would use, the process's folder, is
# not it), whether or not they exist yet: the launcher runs from Resolve's folder and an uninstall may run
# from another one.
$Prefix = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Prefix)
$ScriptsDir = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($ScriptsDir)
$Utf8NoBom = New-Object System.Text.UTF8Encoding $false
$Manifest = Join-Path $Prefix "install-manifest.txt"
$Venv = Join-Path $Prefix "venv"

# The manifest's entries, each once; none before a first install. UTF-8 both ways (Windows PowerShell 5.1 would
# use the ANSI code page and lose other characters in paths).
function Get-Entries {
    if (Test-Path -LiteralPath $Manifest) { Get-Content -Encoding UTF8 -LiteralPath $Manifest | Select-Object -Unique }
}

# True when the manifest lists the entry: an earlier run of this installer placed it.
function Test-Placed([string]$Kind, [string]$Path) { @(Get-Entries) -contains "$Kind $Path" }

# Adds an entry to the manifest, once.
function Add-Entry([string]$Kind, [string]$Path) {
    if (-not (Test-Placed $Kind $Path)) { Add-Content -LiteralPath $Manifest -Value "$Kind $Path" -Encoding UTF8 }
}

# Stops before anything is changed when the path exists and is not the manifest's entry: it is the user's own,
# which installing would replace and uninstalling would remove. $Advice says what to do.
function Assert-NotForeign([string]$Kind, [string]$Path, [string]$Advice) {
    if ((Test-Path -LiteralPath $Path) -and -not (Test-Placed $Kind $Path)) {
        # Not Write-Error: with "Stop" it would end the script as an exception before `exit 1`.
        $host.UI.WriteErrorLine(
            "install.ps1: $Path already exists and this installer did not place it; it is left alone: $Advice")
        exit 1
    }
}

# Creates a folder, recording each level this installer created so uninstalling removes only those.
function New-TrackedDirectory([string]$Path) {
    $missing = @()
    $d = $Path
    while ($d -and -not (Test-Path -LiteralPath $d)) { $missing = @($d) + $missing; $d = Split-Path -Parent $d }
    New-Item -ItemType Directory -Force -Path $Path | Out-Null
    foreach ($m in $missing) { Add-Entry "dir" $m }
}

function Install-DreamStyle {
    $launcher = Join-Path $ScriptsDir "DreamStyle.py"
    $log = Join-Path $Prefix "panel.log"
    Assert-NotForeign "tree" $Venv "move it away, or install into another folder with -Prefix DIR"
    Assert-NotForeign "file" $launcher `
        "move it away, or put DreamStyle's launcher in another folder with -ScriptsDir DIR"
    # As install.sh: a Python older than 3.10 stops the install before anything is made (one not found stops it
    # with PowerShell's own message).
    & $Python -c "import sys; sys.exit(sys.version_info < (3, 10))"
    if ($LASTEXITCODE) {
        $host.UI.WriteErrorLine(
            "install.ps1: DreamStyle needs Python 3.10 or later, which $Python is not: choose one with -Python PY")
        exit 1
    }
    New-TrackedDirectory $Prefix
    Add-Entry "tree" $Venv
    # The panel's log, written later: one there already is the user's.
    if (-not (Test-Path -LiteralPath $log)) { Add-Entry "file" $log }

    Write-Host "Creating the environment in $Venv"
    # As install.sh: an environment whose Python is gone or of another version is made anew (its packages,
    # in an unversioned Lib\site-packages, were built for the other one).
    $venvPython = Join-Path $Venv "Scripts\python.exe"
    $version = "import sys; print(sys.version_info[:2])"
    $clear = @()
    if ((Test-Path -LiteralPath $venvPython) -and ((& $venvPython -c $version) -ne (& $Python -c $version))) {
        $clear = @("--clear")
    }
    & $Python -m venv @clear $Venv
    if ($LASTEXITCODE) { throw "could not create the environment with '$Python -m venv'" }
    $spec = if (Test-Path -LiteralPath $Source) { "$Source[$Extras]" } else { $Source }
    $pipArgs = if ($env:DREAMSTYLE_PIP_ARGS) { @($env:DREAMSTYLE_PIP_ARGS.Trim() -split "\s+") } else { @() }
    # The extras with diffusion or TransNetV2 take torch at the version DreamStyle is tested with.
    $torch = @(if (@($Extras -split ",") | Where-Object { $_ -in @("ml", "detect", "all") }) { "torch==2.13.0" })
    Write-Host "Installing $spec $torch"
    & $venvPython -m pip install --quiet --disable-pip-version-check @pipArgs $spec @torch
    if ($LASTEXITCODE) { throw "pip could not install $spec" }

    New-TrackedDirectory $ScriptsDir
    Add-Entry "file" $launcher
    $panelPython = Join-Path $Venv "Scripts\pythonw.exe"  # no console window next to Resolve
    $text = (Get-Content -Raw -Encoding UTF8 -LiteralPath (Join-Path $PSScriptRoot "DreamStyle.py")).
        Replace("@PYTHON@", $panelPython).Replace("@LOG@", $log)
    # Without a byte order mark (Set-Content -Encoding UTF8 writes one on Windows PowerShell 5.1).
    [System.IO.File]::WriteAllText($launcher, $text, $Utf8NoBom)

    $command = Join-Path $Venv "Scripts\dreamstyle.exe"  # the environment's Scripts folder is not on PATH
    Write-Host "Installed. Command: $command"
    Write-Host "DaVinci Resolve: Workspace > Scripts > Utility > DreamStyle (launcher: $launcher)"
    Write-Host "Check the set-up with: & `"$command`" doctor"
}

function Uninstall-DreamStyle {
    if (-not (Test-Path -LiteralPath $Manifest)) {
        # Not Write-Error: with "Stop" it would end the script as an exception before `exit 1`.
        $host.UI.WriteErrorLine("install.ps1: nothing to uninstall under $Prefix ($Manifest not found)")
        exit 1
    }
    $entries = @(Get-Entries)  # @(): one line is still an array
    foreach ($line in $entries) {
        $kind, $path = $line -split " ", 2
        if ($kind -in @("file", "tree") -and (Test-Path -LiteralPath $path)) {
            Remove-Item -LiteralPath $path -Recurse -Force
        }
    }
    Remove-Item -LiteralPath $Manifest -Force
    [array]::Reverse($entries)
    foreach ($line in $entries) {
        $kind, $path = $line -split " ", 2
        if ($kind -eq "dir" -and (Test-Path -LiteralPath $path) -and -not (Get-ChildItem -Force -LiteralPath $path)) {
            Remove-Item -LiteralPath $path -Force
        }
    }
    Write-Host "DreamStyle removed from $Prefix and the Resolve Scripts folder."
}

if ($Uninstall) { Uninstall-DreamStyle } else { Install-DreamStyle }
