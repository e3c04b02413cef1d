#!/usr/bin/env python3
"""Builds the seed corpora of the libFuzzer targets (tests/fuzz/corpus/<target>/)
from the test suite's own cases: string literals of the C tests, the config
files, and real package_search pages of the CKAN fixture portal.

Usage: tests/fuzz/seeds.py [--fixture BUILD/tests/fixtures/ckan-fixture/ckan-fixture]
Files are named by the SHA-1 of their content (as libFuzzer names them), so
running it again only adds what is new; crashers added by hand stay."""
import argparse, glob, hashlib, json, os, re, signal, socket, subprocess, sys, time, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CORPUS = os.path.join(ROOT, 'tests', 'fuzz', 'corpus')
LIT = re.compile(r'((?:"(?:\\.|[^"\\\n])*"\s*)+)')
PART = re.compile(r'"((?:\\.|[^"\\\n])*)"')
ESC = re.compile(r'\\(x[0-9a-fA-F]+|[0-7]{1,3}|.)', re.S)
SIMPLE = {'n': b'\n', 'r': b'\r', 't': b'\t', '0': b'\0', '\\': b'\\', '"': b'"', "'": b"'",
          'a': b'\a', 'b': b'\b', 'f': b'\f', 'v': b'\v', '?': b'?'}


def c_unescape(s):
    out, pos = b'', 0
    for m in ESC.finditer(s):
        out += s[pos:m.start()].encode('utf-8')
        e = m.group(1)
        if e[0] == 'x':
            out += bytes([int(e[1:], 16) & 0xff])
        elif e[0] in '01234567':
            out += bytes([int(e, 8) & 0xff])
        else:
            out += SIMPLE.get(e, e.encode('utf-8'))
        pos = m.end()
    return out + s[pos:].encode('utf-8')


def literals(paths):
    for p in paths:
        src = open(p, encoding='utf-8', errors='replace').read()
        src = re.sub(r'^\s*#\s*include.*$', '', src, flags=re.M)
        for m in LIT.finditer(src):
            yield b''.join(c_unescape(x) for x in PART.findall(m.group(1)))


def save(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), 'wb') as f:
        f.write(data)


def tests(*globs):
    out = []
    for g in globs:
        out += sorted(glob.glob(os.path.join(ROOT, g)))
    return out


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fixture_pages(binary):
    """package_search pages of a small lively fixture portal: pairs before\\x1eafter
    across changes (title, resources, URLs, removals), and its broken answers."""
    port = free_port()
    proc = subprocess.Popen([binary, '--port', str(port), '--datasets', '40', '--orgs', '4',
                             '--resources-per-dataset', '2', '--seed', '7', '--hosts', '2',
                             '--scenario', 'mixed'], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = 'http://127.0.0.1:%d' % port
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(base + '/_stats', timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)

        def page(start, rows=5, fq=''):
            url = '%s/api/3/action/package_search?sort=id%%20asc&rows=%d&start=%d%s' % (
                base, rows, start, fq)
            try:
                return urllib.request.urlopen(url, timeout=5).read()
            except Exception as e:  # the broken modes answer 500 or garbage
                return getattr(e, 'read', lambda: b'')()

        def control(ops):
            req = urllib.request.Request(base + '/_control', data=json.dumps(ops).encode(),
                                         headers={'Content-Type': 'application/json'})
            return json.loads(urllib.request.urlopen(req, timeout=5).read())

        before = [page(s) for s in (0, 5, 35, 40)]
        for b in before:
            yield b
        yield page(0, rows=3, fq='&fq=organization:(org-1%20OR%20org-2)')
        first = json.loads(before[0])['result']['results']
        ids = [d['id'] for d in first]
        control([{'op': 'modify_dataset', 'id': ids[0], 'title': 'Título cambiado \u00f1',
                  'touch': True},
                 {'op': 'modify_dataset', 'id': ids[1], 'add_resource': True},
                 {'op': 'modify_dataset', 'id': ids[2], 'remove_resource': True},
                 {'op': 'modify_dataset', 'id': ids[1],
                  'set': {'maintainer': 'Ana Pérez', 'maintainer_email': 'ana@example.org',
                          'author_email': 'Equipo <equipo@example.org>'}},
                 {'op': 'modify_dataset', 'id': ids[3],
                  'resource_url': {'position': 0, 'url': 'ftp://example.invalid/x.csv'}},
                 {'op': 'remove_dataset', 'id': ids[4]},
                 {'op': 'add_dataset', 'name': 'nuevo', 'title': 'Nuevo', 'resources': 2}])
        after = page(0)
        yield before[0] + b'\x1e' + after
        yield before[0] + b'\x1e' + before[0]
        for mode in ('garbage', 'html', 'success_false', 'truncated', 'bad_utf8', 'duplicates'):
            control({'op': 'api_fail', 'mode': mode, 'count': 1})
            yield page(0)
        control({'op': 'api_fail', 'mode': 'none'})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--fixture', help='ckan-fixture binary (for the listing corpus)')
    a = ap.parse_args()

    # INI: the shipped files and every INI text of the C tests.
    for p in tests('config/*.ini', 'config/*.ini.sample'):
        save('fuzz_config', open(p, 'rb').read())
    for s in literals(tests('tests/unit/test_config.c', 'tests/fuzz/test_fuzz_config.c',
                            'tests/integration/*.c', 'tests/support/*.c')):
        if b'[' in s and b'=' in s and b'\n' in s:
            save('fuzz_config', s)

    # Engine.IO / Socket.IO: packets of the broker tests.
    broker = tests('tests/plugins/broker/*.c')
    for s in literals(broker):
        if 0 < len(s) < 400 and s[:1] in b'0123456b':
            save('fuzz_eio', s)
            if s[:1] != b'b':
                save('fuzz_sio', s)
            if s[:1] == b'4' and len(s) > 1:
                save('fuzz_sio', s[1:])

    # JSON: the depth pre-check's unit test, then every JSON text of the tests.
    for s in literals(tests('tests/unit/test_json_depth.c', 'tests/plugins/*/*.c',
                            'tests/integration/*.c')):
        if 0 < len(s) < 2000 and s.lstrip()[:1] in (b'[', b'{', b'"'):
            save('fuzz_json', s)

    # Request targets and query strings of the REST and core tests.
    for s in literals(tests('tests/plugins/rest/*.c', 'tests/integration/*.c',
                            'tests/plugins/broker/*.c', 'tests/plugins/monitor/*.c',
                            'tests/plugins/notifications/*.c')):
        if s.startswith((b'/api', b'/socket.io', b'/metrics', b'/%', b'//')) and len(s) < 400:
            save('fuzz_http_path', s)
            if b'?' in s:
                q = s.split(b'?', 1)[1]
                save('fuzz_rest_query', q)
                save('fuzz_rest_query', q + b'\x1e{"read":true}')

    # The monitor's content library: the CSV texts and JSON samples of its unit test, each as a
    # whole file (first byte 0) and as a cut prefix (1); JSON with a second sample cut at 1/2.
    for s in literals(tests('tests/plugins/monitor/monitor_content_test.c')):
        if 0 < len(s) < 4000:
            if s.lstrip()[:1] in (b'[', b'{'):
                save('fuzz_json_sample', b'\xff' + s)
                save('fuzz_json_sample', b'\x80' + s)
            elif b'\n' in s:
                save('fuzz_csv_sniff', b'\x00' + s)
                save('fuzz_csv_sniff', b'\x01' + s)

    # Zone files: the system's own (tzdata), northern, southern, no DST, fractional
    # offsets, a v1-only-looking UTC, and cut copies of one.
    zi = '/usr/share/zoneinfo'
    for z in ('UTC', 'America/Santiago', 'Europe/Madrid', 'Asia/Kolkata', 'Australia/Lord_Howe',
              'America/New_York', 'Pacific/Chatham', 'Africa/Casablanca', 'Asia/Tehran'):
        if os.path.isfile(os.path.join(zi, z)):
            d = open(os.path.join(zi, z), 'rb').read()
            save('fuzz_tz', d)
            if z == 'America/Santiago':
                for cut in (44, len(d) // 3, len(d) - 1):
                    save('fuzz_tz', d[:cut])
    # CKAN contact fields: the addresses of the watch tests.
    for s in literals(tests('tests/plugins/watch/*.c')):
        if b'@' in s and len(s) < 300 and b'{' not in s:
            save('fuzz_contact', s)
    # Update frequencies, timestamps and package dicts of the signals' unit test.
    for s in literals(tests('tests/plugins/monitor/monitor_signals_test.c')):
        if 0 < len(s) < 400:
            save('fuzz_frequency', s)
    # Redis messages of the cluster plugin (first byte: 0 events channel, 1 node channel).
    for m in [b'{"n":"a","s":1,"t":"test.tick","p":{"v":1,"i":0}}',
              b'{"n":"me","s":2,"t":"test.tick","p":{"v":1}}',
              b'{"n":"b","s":9,"t":"other.tick","p":{}}',
              b'{"n":"b","s":"x","t":"test.x","p":[]}']:
        save('fuzz_cluster_msg', b'\x00' + m)
    for m in [b'{"k":"req","id":"a-1","from":"a","m":"notifications.stats","params":{}}',
              b'{"k":"req","id":"a-2","from":"a","m":"x.y"}',
              b'{"k":"rep","id":"me-1","rc":0,"result":{"unread":3}}',
              b'{"k":"rep","id":"me-1","rc":-2,"result":{"error":{"code":"NOT_FOUND","message":"m"}}}',
              b'{"k":"rep","id":"me-1","rc":-2,"result":7}',
              b'{"k":"rep","id":"zz","rc":0}']:
        save('fuzz_cluster_msg', b'\x01' + m)

    if a.fixture:
        for p in fixture_pages(a.fixture):
            save('fuzz_listing', p)
            if b'\x1e' not in p:
                save('fuzz_json', p)
    for t in sorted(os.listdir(CORPUS)):
        print('%-16s %4d seeds' % (t, len(os.listdir(os.path.join(CORPUS, t)))))


if __name__ == '__main__':
    sys.exit(main())
