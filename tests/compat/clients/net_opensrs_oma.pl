#!/usr/bin/perl
# What Net::OpenSRS::OMA 0.02 sends and how it reads the answer, with core modules only
# (HTTP::Tiny for LWP::UserAgent, JSON::PP for JSON):
#   - the method URL is uri . '/' . method (so a base of .../api/ gives /api//method);
#   - the body is the caller's arguments plus credentials {user, client, password | token};
#   - Content-Type application/json, User-Agent = the client string ("Perl OMA Client\0.02");
#   - the body is parsed only from a 2xx answer; otherwise error and error_number are undef.
# Usage: net_opensrs_oma.pl URI USER (password|token) SECRET METHOD JSON_ARGS
# Prints one JSON line: {status, is_success, error, error_number, content, retry_after,
# request_id}.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;

my ($uri, $user, $mode, $secret, $method, $args) = @ARGV;
my $client = "Perl OMA Client\\0.02";
my %body = %{ decode_json($args) };
$body{credentials} = { user => $user, client => $client, $mode => $secret };

my $ua = HTTP::Tiny->new(agent => $client, verify_SSL => 0, timeout => 10);
my $response = $ua->request('POST', $uri . '/' . $method, {
    headers => { 'Content-Type' => 'application/json' },
    content => encode_json(\%body),
});

my $content;
if ($response->{success}) {    # HTTP::Tiny: any 2xx, as LWP's is_success
    $content = eval { decode_json($response->{content}) };
}
my $status = $response->{status};
print encode_json({
    status       => $status,
    is_success   => ($status == 200 && $content && $content->{success}) ? JSON::PP::true : JSON::PP::false,
    error        => $content ? $content->{error} : undef,
    error_number => $content ? $content->{error_number} : undef,
    content      => $content,
    retry_after  => $response->{headers}{'retry-after'},
    request_id   => $response->{headers}{'x-request-id'},
}), "\n";
