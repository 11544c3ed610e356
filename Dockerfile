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
RUN swift build -c release --static-swift-stdlib --product netfault \
 && swift build -c release --static-swift-stdlib --product netfault-serve \
 && swift build -c release --static-swift-stdlib --product netfault-matrix \
 && install -D -m 0755 .build/release/netfault /out/usr/local/bin/netfault \
 && install -D -m 0755 .build/release/netfault-serve /out/usr/local/bin/netfault-serve \
 && install -D -m 0755 .build/release/netfault-matrix /out/usr/local/bin/netfault-matrix \
 && mkdir -p /out/usr/local/share/bash-completion/completions \
 && /out/usr/local/bin/netfault --generate-completion-script bash > /out/usr/local/share/bash-completion/completions/netfault

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnl-3-200 libnftnl11 libmnl0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
CMD ["netfault", "--help"]
