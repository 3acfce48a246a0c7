# The web callback and the https hop the phone apps use (they cannot be sent to audiobookshelf://).
usher oidc client add audiobookshelf --name Audiobookshelf --group 4 \
  --redirect-uri https://audiobookshelf.example.com/auth/openid/callback \
  --redirect-uri https://audiobookshelf.example.com/auth/openid/mobile-redirect
