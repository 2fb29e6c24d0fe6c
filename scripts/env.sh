# Sourced by the scripts: tools installed by scripts/setup on PATH.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
