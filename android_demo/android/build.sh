#!/usr/bin/env bash
# Build and sign the demo APK with Debian's tools only (no Android SDK, no Gradle, no Java compiler):
#   smali (libsmali-java) -> classes.dex; aapt + framework-res.apk (android-framework-res) -> APK with the web app and
#   the bundle as assets; zipalign; a debug key made here with keytool; apksigner sign + verify; aapt dump badging.
# usage: android_demo/android/build.sh BUNDLE_DIR OUT.apk
# apt-get install aapt zipalign apksigner libsmali-java android-framework-res default-jre-headless ; npm ci in ../web
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUNDLE_DIR OUT.apk" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"; web="$here/../web"
bundle="$(cd "$1" && pwd)" || { echo "$1: no such bundle folder" >&2; exit 2; }
out="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
[ -f "$bundle/manifest.json" ] || { echo "$bundle: no manifest.json (not an animetool bundle folder)" >&2; exit 2; }
[ -d "$web/node_modules/onnxruntime-web" ] || { echo "$web/node_modules: missing; run npm ci --prefix $web" >&2; exit 2; }
for tool in aapt zipalign apksigner keytool java python3; do
  command -v "$tool" >/dev/null || { echo "$tool: not installed (see the apt-get line at the top of $0)" >&2; exit 2; }
done
framework=/usr/share/android-framework-res/framework-res.apk; smali=/usr/share/java/smali.jar
[ -f "$framework" ] && [ -f "$smali" ] || { echo "$framework or $smali missing (android-framework-res, libsmali-java)" >&2; exit 2; }

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
java -jar "$smali" assemble --api 24 -o "$work/classes.dex" "$here/smali"

# assets/web: the app, the two runtimes' files it loads, and the bundle's ONNX and TFLite entries
a="$work/assets/web"; mkdir -p "$a/lib" "$a/node_modules/onnxruntime-web/dist" "$a/node_modules/@litertjs/core/dist" \
  "$a/node_modules/@litertjs/core/wasm" "$a/node_modules/@litertjs/wasm-utils/dist" "$a/bundle"
cp "$web"/{index.html,app.js,manifest.webmanifest,icon-192.png} "$a/"; cp "$web"/lib/*.js "$a/lib/"
ort="$web/node_modules/onnxruntime-web/dist"
cp "$ort"/{ort.wasm.min.mjs,ort-wasm-simd-threaded.mjs,ort-wasm-simd-threaded.wasm} "$a/node_modules/onnxruntime-web/dist/"
cp "$web"/node_modules/@litertjs/core/dist/index.js "$a/node_modules/@litertjs/core/dist/"
cp "$web"/node_modules/@litertjs/core/wasm/litert_wasm_{internal,compat_internal}.{js,wasm} "$a/node_modules/@litertjs/core/wasm/"
cp "$web"/node_modules/@litertjs/wasm-utils/dist/index.js "$a/node_modules/@litertjs/wasm-utils/dist/"
python3 - "$bundle" "$a/bundle" <<'PY'
import json, shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
m = json.loads((src / "manifest.json").read_text())
m["models"] = [e for e in m["models"] if e["format"] in ("onnx", "tflite")]
if not m["models"]:
    sys.exit(f"{src}: no ONNX or TFLite models to put in the app")
for e in m["models"]:
    name = Path(str(e["file"]))
    if name.is_absolute() or len(name.parts) != 1 or not (src / name).resolve().is_relative_to(src.resolve()):
        sys.exit(f"{src}: the manifest names {e['file']!r}, which is not a file inside the bundle; refused")
    shutil.copy2(src / name, dst / name)
(dst / "manifest.json").write_text(json.dumps(m, indent=1))
print(f"bundle: {len(m['models'])} entries ({', '.join(sorted({e['name'] for e in m['models']}))})")
PY
mkdir -p "$work/res/drawable"; cp "$web/icon-192.png" "$work/res/drawable/icon.png"

# models and wasm stored uncompressed (-0): read straight from the APK, and they barely compress anyway
aapt package -f -M "$here/AndroidManifest.xml" -S "$work/res" -A "$work/assets" -I "$framework" \
  -0 wasm -0 tflite -0 onnx -F "$work/unsigned.apk"
(cd "$work" && aapt add unsigned.apk classes.dex >/dev/null)
zipalign -f -p 4 "$work/unsigned.apk" "$work/aligned.apk"
keytool -genkeypair -keystore "$work/debug.keystore" -storepass android -keypass android -alias debug -keyalg RSA \
  -keysize 2048 -validity 10000 -dname "CN=animetool debug" >/dev/null 2>&1
apksigner sign --ks "$work/debug.keystore" --ks-pass pass:android --key-pass pass:android --out "$work/signed.apk" "$work/aligned.apk"
apksigner verify "$work/signed.apk"
mv "$work/signed.apk" "$out"
aapt dump badging "$out" | grep -E "^(package|sdkVersion|targetSdkVersion|uses-permission|launchable-activity|application-label):"
echo "wrote $out ($(du -h "$out" | cut -f1))"
