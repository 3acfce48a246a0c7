# Usher answers as an OpenID Connect provider once public_url is set; the issuer is that value.
usher settings set public_url '"https://usher.example.com"'
curl -s https://usher.example.com/.well-known/openid-configuration
