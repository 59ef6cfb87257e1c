#!/usr/bin/env bash
# Install the packages carried in DIR into /tmp/site on the device machine (idempotent; exits non-zero
# on the first failure). The device image lacks polars, duckdb, pydantic, orjson… and its pyarrow
# 25.0.1 cannot read back a Parquet file with a null in a fixed_size_list column (the Record schema's
# bbox: "ArrowInvalid: Expected all lists to be of size=4 but index 1 had size=0"; 26.0.1, the
# locked version, can), so pyarrow 26.0.1 travels too. They exceed the 64 MiB a call may carry, so
# they travel in two calls of a warm machine:
#   .whlA: the wheels (polars, pydantic, pydantic-core, annotated-types, typing-inspection,
#          typing-extensions, orjson, typer, annotated-doc); rest.tar.gz (polars-runtime-32 and duckdb
#          without their shared libraries, the dist-info of datasets, which mixture manifests ask the
#          version of); polars_rt.so.xz (polars-runtime-32's library, stripped, xz --x86);
#          pyarrow.tar.xz (pyarrow 26.0.1 without flight, s3, tests and headers, libraries stripped)
#   .whlB: duckdb.so.xz (duckdb's library)
# so.sha256 in each lists the digests of the decompressed libraries.
#
#   bash benchmarks/gpu/device_setup.sh .whlA
set -euo pipefail
D=${1:?usage: device_setup.sh DIR}
S=/tmp/site
mkdir -p "$S"
shopt -s nullglob
w=("$D"/*.whl)
if [ ${#w[@]} -gt 0 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$S" "${w[@]}"
fi
[ -f "$D/rest.tar.gz" ] && tar xzf "$D/rest.tar.gz" -C "$S"
python3 - "$D" "$S" <<'PY'
import lzma, shutil, sys, tarfile
from pathlib import Path
d, s = Path(sys.argv[1]), Path(sys.argv[2])
for src, dst in (("polars_rt.so.xz", "_polars_runtime_32/_polars_runtime.abi3.so"), ("duckdb.so.xz", "_duckdb.abi3.so")):
    if (d / src).is_file():
        (s / dst).parent.mkdir(parents=True, exist_ok=True)
        with lzma.open(d / src) as f, open(s / dst, "wb") as g:
            shutil.copyfileobj(f, g, 1 << 24)
if (d / "pyarrow.tar.xz").is_file():
    with tarfile.open(d / "pyarrow.tar.xz", "r:xz") as t:
        t.extractall(s, filter="tar")
PY
[ -f "$D/so.sha256" ] && (cd "$S" && sha256sum -c "$OLDPWD/$D/so.sha256")
echo "device_setup: $D installed into $S"
