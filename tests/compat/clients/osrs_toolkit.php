<?php
// What the OpenSRS PHP toolkit's opensrs/OMA.php (OMA::call) sends: credentials
// {user: MAIL_USERNAME, password: MAIL_PASSWORD, client: MAIL_CLIENT} plus the caller's array;
// with a `token` in that array, credentials.password is swapped for credentials.token and the
// token stays at the top level too. POST MAIL_HOST . "/api/{method}", Content-Type
// application/json with Content-Length; the raw body is what the toolkit returns.
// Usage: php osrs_toolkit.php MAIL_HOST MAIL_USERNAME MAIL_PASSWORD METHOD JSON_REQUEST
// Prints one JSON line: {status, body} (body: the JSON answer decoded, null if it is not JSON).
[$_, $host, $username, $password, $method, $json] = $argv;
$request = json_decode($json, true);

$data = ["credentials" => ["user" => $username, "password" => $password,
                           "client" => "OpenSRS PHP Toolkit"]];
if (isset($request["token"])) {
    unset($data["credentials"]["password"]);
    $data["credentials"]["token"] = $request["token"];
}
$data += $request;
$data_string = json_encode($data);

$ch = curl_init($host . "/api/{$method}");
curl_setopt($ch, CURLOPT_CUSTOMREQUEST, "POST");
curl_setopt($ch, CURLOPT_POSTFIELDS, $data_string);
curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
curl_setopt($ch, CURLOPT_HTTPHEADER, [
    'Content-Type: application/json',
    'Content-Length: ' . strlen($data_string),
]);
$response = curl_exec($ch);
if (curl_errno($ch)) {
    fwrite(STDERR, 'Curl error: ' . curl_error($ch) . "\n");
    exit(2);
}
$status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
curl_close($ch);
echo json_encode(["status" => $status, "body" => json_decode($response)]), "\n";
