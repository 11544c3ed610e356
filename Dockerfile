# netfault in an image, for users who have a registry (the tests build theirs without one:
# scripts/container-image).
#
#   docker build -t netfault .
#   docker run --rm --network container:mysql --cap-add NET_ADMIN netfault \
#       netfault apply mysql --blackhole --for 10m --foreground
#
# The Swift standard library and Foundation are linked in statically; the runtime stage needs
# only the C libraries netfault talks netlink through.
ARG SWIFT_IMAGE=swift:6.1-bookworm

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnl-3-dev libnftnl-dev libmnl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources Sources
# The man pages and completions as committed (make containers checks them against --help).
COPY docs/man docs/man
COPY docs/completions docs/completions
# One build for the three programs, as make install does.
RUN swift build -c release --static-swift-stdlib \
 && install -D -m 0755 .build/release/netfault /out/usr/local/bin/netfault \
 && install -D -m 0755 .build/release/netfault-serve /out/usr/local/bin/netfault-serve \
 && install -D -m 0755 .build/release/netfault-matrix /out/usr/local/bin/netfault-matrix \
 && install -D -m 0644 -t /out/usr/local/share/man/man1 docs/man/netfault.1 docs/man/netfault-serve.1 \
      docs/man/netfault-matrix.1 \
 && install -D -m 0644 docs/completions/netfault.bash /out/usr/local/share/bash-completion/completions/netfault \
 && install -D -m 0644 docs/completions/_netfault /out/usr/local/share/zsh/site-functions/_netfault \
 && install -D -m 0644 docs/completions/netfault.fish /out/usr/local/share/fish/vendor_completions.d/netfault.fish

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnl-3-200 libnftnl11 libmnl0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
CMD ["netfault", "--help"]
