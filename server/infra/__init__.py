"""Infrastructure: regions, zones, physical networks, pods, IP ranges, clusters, hosts, capacity."""
