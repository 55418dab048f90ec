# The web UI's static files: GET / and GET /assets/{file} from the configured UI folder,
# with content types and cache headers; every way of naming a file outside the folder
# (dot segments raw or encoded, encoded slashes, absolute paths, NUL, symlinks) is refused
# and never shows the file; a missing UI says how to get one.
. "$(dirname "$0")/lib.sh"

UI=$T/ui
mkdir -p "$UI/assets" "$T/outside"
printf '<!doctype html><title>probe ui</title>\n' >"$UI/index.html"
printf 'console.log("app");\n' >"$UI/assets/index-Ab3_x-9Z.js"
printf 'body{color:red}\n' >"$UI/assets/index-Zz9y8X7w.css"
printf '<svg xmlns="http://www.w3.org/2000/svg"/>\n' >"$UI/assets/logo.svg"
printf 'TOP-SECRET\n' >"$T/outside/secret.txt"
printf 'TOP-SECRET\n' >"$T/secret.txt"
ln -s "$T/secret.txt" "$UI/assets/link.js"
mkdir -p "$UI/assets/sub.js"

start_server LAKEHOUSE_UI_DIR="$UI"

req GET /
expect_status 200
expect_header Content-Type 'text/html; charset=utf-8'
expect_header Cache-Control 'no-cache'
expect_header Content-Security-Policy "default-src 'self'"
expect_header X-Content-Type-Options nosniff
expect_eq "$(cat "$T/body")" "$(cat "$UI/index.html")" "GET / body"

req HEAD / -I
expect_status 200

req GET /assets/index-Ab3_x-9Z.js
expect_status 200
expect_header Content-Type 'text/javascript; charset=utf-8'
expect_header Cache-Control 'public, max-age=31536000, immutable'
expect_eq "$(cat "$T/body")" 'console.log("app");' "asset body"

req GET /assets/index-Zz9y8X7w.css
expect_status 200
expect_header Content-Type 'text/css; charset=utf-8'

# A name without a content hash may change between builds: revalidated, not immutable.
req GET /assets/logo.svg
expect_status 200
expect_header Content-Type 'image/svg+xml'
expect_header Cache-Control 'no-cache'

req GET /assets/nope.js
expect_status 404
expect_jq '.error.code == "not_found"'
expect_contains "no asset named 'nope.js'"

# The API keeps its own cache policy.
req GET /health
expect_header Cache-Control 'no-store'

# Escapes: each is refused before a file is opened, and no answer holds the secret.
for p in \
    '/assets/../secret.txt' \
    '/assets/../../outside/secret.txt' \
    '/assets/%2e%2e/secret.txt' \
    '/assets/%2e%2e%2fsecret.txt' \
    '/assets/..%2f..%2foutside%2fsecret.txt' \
    '/assets/%2E%2E' \
    '/assets/.%2e' \
    '/assets/%2fetc%2fpasswd' \
    '/assets//etc/passwd' \
    '/assets/%00' \
    '/assets/index.js%00.png' \
    '/assets/a%5c..%5csecret.txt' \
    '/assets/.hidden' \
    '/%2e%2e/secret.txt' \
    '/../secret.txt' \
    '/assets/%252e%252e%252fsecret.txt'; do
    req GET "$p" --path-as-is
    CHECKS=$((CHECKS + 1))
    if [ "$STATUS" = 400 ] || [ "$STATUS" = 404 ]; then
        pass "GET $p refused with $STATUS"
    else
        fail "GET $p: expected 400 or 404, got $STATUS: $(head -c 200 "$T/body")"
    fi
    CHECKS=$((CHECKS + 1))
    if grep -q 'TOP-SECRET' "$T/body"; then fail "GET $p leaked the file"; else pass "GET $p shows nothing outside"; fi
done
req GET '/assets/%2e%2e%2fsecret.txt'
expect_status 400
expect_contains "starts with '.'"
req GET '/assets/%00'
expect_status 400
expect_contains 'NUL'

# A symlink inside assets/ is not followed; a folder is not a file.
req GET /assets/link.js
expect_status 404
CHECKS=$((CHECKS + 1))
if grep -q 'TOP-SECRET' "$T/body"; then fail "the symlink was followed"; else pass "the symlink was not followed"; fi
req GET /assets/sub.js
expect_status 404

# Only GET/HEAD.
req POST / -d x
expect_status 405
expect_header Allow GET

# A UI folder without index.html: 404 that says how to get the UI.
mkdir -p "$T/empty"
start_server LAKEHOUSE_UI_DIR="$T/empty"
req GET /
expect_status 404
expect_contains 'the web UI is not installed'
expect_contains 'LAKEHOUSE_UI_DIR'

# By default the UI is the folder "web" next to the program (what the build produces).
if [ -f "$(dirname "$LH_BIN")/web/index.html" ]; then
    start_server
    req GET /
    expect_status 200
    expect_eq "$(cat "$T/body")" "$(cat "$(dirname "$LH_BIN")/web/index.html")" "default UI folder"
fi
finish
