# What the Ruby gem `oma` (Deana/libemail oma/lib/opensrs/oma.rb) does: POST @base + "/" + method
# over TLS always (use_ssl = true) with certificate checks off (VERIFY_NONE), Content-Type
# application/json, credentials {client: "Ruby OpenSRS::OMA 0.01", user, password}; JSON.parse of
# the body whatever the status; valid? raises InvalidCredentials when the error text matches
# /Invalid credentials supplied in request/, another exception for any other failure.
# Usage: ruby opensrs_oma_gem.rb URL USERNAME PASSWORD METHOD JSON_ARGS
# Prints one JSON line: {"answer": ...} or {"raised": class name, "message": text}.
require 'net/http'
require 'net/https'
require 'json'

class InvalidCredentials < Exception; end

url, username, password, method, args = ARGV
uri = URI.parse(url + "/" + method)
params = JSON.parse(args)
params["credentials"] = { :client => "Ruby OpenSRS::OMA 0.01", :user => username, :password => password }

http = Net::HTTP.new(uri.host, uri.port)
http.use_ssl = true
http.verify_mode = OpenSSL::SSL::VERIFY_NONE
request = Net::HTTP::Post.new(uri.request_uri)
request["Content-Type"] = "application/json"
request.body = params.to_json
response = JSON.parse(http.request(request).read_body)

begin
  unless response["success"]
    if response["error"] =~ /Invalid credentials supplied in request/
      raise InvalidCredentials, response["error"]
    end
    raise Exception, response["error"]
  end
  puts({ "answer" => response }.to_json)
rescue Exception => e
  puts({ "raised" => e.class.name, "message" => e.message }.to_json)
end
