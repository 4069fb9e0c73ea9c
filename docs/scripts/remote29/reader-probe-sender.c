// remote29 probe 4 (sender): loopback sender for reader-probe.cs.txt: listens on PORT, per connection sends MiB as 4 MiB replies (32-byte
// header, corked with the sendfile'd payload), like our page server.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
int main(int argc,char**argv){ int port=atoi(argv[1]); size_t mib=atoi(argv[2]); int conns=atoi(argv[3]);
  int ffd=open("/tmp/remote29-senddata",O_RDWR|O_CREAT,0600); char*b=malloc(1<<20);
  for(size_t i=0;i<mib;i++){for(int j=0;j<(1<<20);j+=8)*(unsigned long*)(b+j)=i*(1<<20)+j+1; pwrite(ffd,b,1<<20,i<<20);}
  int l=socket(AF_INET,SOCK_STREAM,0); int one=1; setsockopt(l,SOL_SOCKET,SO_REUSEADDR,&one,4);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(INADDR_LOOPBACK)};
  if(bind(l,(void*)&a,sizeof a)||listen(l,4)){perror("bind");return 1;} printf("ready\n"); fflush(stdout);
  for(int k=0;k<conns;k++){ int s=accept(l,0,0); off_t off=0; char hdr[32]={0};
    while(off<(off_t)(mib<<20)){ int c=1; setsockopt(s,IPPROTO_TCP,TCP_CORK,&c,4); send(s,hdr,32,0); size_t left=4<<20;
      while(left){ssize_t n=sendfile(s,ffd,&off,left); if(n<=0)return 3; left-=n;} c=0; setsockopt(s,IPPROTO_TCP,TCP_CORK,&c,4);}
    close(s);} return 0;}
