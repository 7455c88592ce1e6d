<?php
// What ocolin/OpenSrsMail 2.x (src/HTTP.php, src/TokenCache.php) does in its default TOKEN mode,
// with PHP's curl in place of Guzzle:
//   - method URLs resolve against the base URI as Guzzle's base_uri does (RFC 3986): a base of
//     ".../api" gives "/{method}", ".../api/" gives "/api/{method}";
//   - headers Content-type application/json; charset=utf-8, Accept application/json,
//     User-Agent ocolin/opensrs-mail 2.0;
//   - no cached token (or a cached one past its own expires_at): POST authenticate with
//     {credentials: {user, password}, generate_session_token: true, session_token_duration: N},
//     N clamped to 300..86400, and cache {token, expires_at = now + duration - 60} in a file;
//   - every call sends credentials {user, token}; an error 1 is returned as it is, never
//     answered with a new authenticate.
// Usage: php ocolin_open_srs_mail.php BASE_URI USER PASSWORD CACHE_DIR DURATION METHOD JSON_ARGS
// Prints one JSON line: {authenticated: bool, answer}.
[$_, $base, $user, $password, $cache_dir, $duration, $method, $json] = $argv;
$duration = max(300, min(86400, (int)$duration));
$cache = $cache_dir . DIRECTORY_SEPARATOR . 'opensrs_mail_' . md5($user) . '.json';

function resolve(string $base, string $relative): string {
    $parts = parse_url($base);
    $path = $parts['path'] ?? '/';
    $dir = substr($path, 0, strrpos($path, '/') + 1);
    return "{$parts['scheme']}://{$parts['host']}:{$parts['port']}{$dir}{$relative}";
}

function post(string $base, string $method, array $params): ?object {
    $ch = curl_init(resolve($base, $method));
    curl_setopt($ch, CURLOPT_POST, true);
    curl_setopt($ch, CURLOPT_POSTFIELDS, json_encode($params));
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($ch, CURLOPT_HTTPHEADER, [
        'Content-type: application/json; charset=utf-8',
        'Accept: application/json',
        'User-Agent: ocolin/opensrs-mail 2.0',
    ]);
    $body = json_decode((string)curl_exec($ch));  // http_errors => false: any status is read
    curl_close($ch);
    return is_object($body) ? $body : null;
}

function cached_token(string $cache): ?string {
    if (!file_exists($cache)) { return null; }
    $data = json_decode((string)file_get_contents($cache));
    if (!is_object($data) || empty($data->expires_at) || time() >= $data->expires_at) {
        return null;
    }
    return $data->token ?? null;
}

$authenticated = false;
$token = cached_token($cache);
if ($token === null) {
    $auth = post($base, 'authenticate', [
        'credentials' => ['user' => $user, 'password' => $password],
        'generate_session_token' => true,
        'session_token_duration' => $duration,
    ]);
    if ($auth === null || empty($auth->success) || empty($auth->session_token)
        || empty($auth->session_token_duration)) {
        fwrite(STDERR, 'HttpException: ' . ($auth->error ?? 'Unknown error') . "\n");
        exit(3);
    }
    file_put_contents($cache, json_encode([
        'token' => $auth->session_token,
        'session_token_duration' => $auth->session_token_duration,
        'expires_at' => time() + $auth->session_token_duration - 60,
    ]), LOCK_EX);
    $token = $auth->session_token;
    $authenticated = true;
}
$params = json_decode($json, true);
$params['credentials'] = ['user' => $user, 'token' => $token];
echo json_encode(['authenticated' => $authenticated, 'answer' => post($base, $method, $params)]), "\n";
